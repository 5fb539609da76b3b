"""Pipeline stages: validate and prepare data, train, evaluate."""
