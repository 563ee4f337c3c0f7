"""The transaction engine: card and host flows of the ECR `transaction` command."""
