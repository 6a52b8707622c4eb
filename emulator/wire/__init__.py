"""The wire: Bedrock Runtime requests and responses as botocore\x27s service model defines them."""
