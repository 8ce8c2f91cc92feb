"""Users, keys, roles, audit log, privacy, fairness and model cards."""
