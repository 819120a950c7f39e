"""Club operator: a kopf operator that runs one Football Club Platform instance per Club."""
