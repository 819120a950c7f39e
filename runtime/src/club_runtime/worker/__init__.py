"""RQ workers of the club runtime: `cli` starts one, `jobs/` holds what they run."""
