"""Club runtime: the Football Club Platform API and workers that the operator deploys."""
