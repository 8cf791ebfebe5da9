"""`make bench`: the performance budgets (docs/architecture.md) measured against a local moto
DynamoDB.

Sections: DynamoDB requests per route (auth included), cold start per function versus
`import boto3` + a DynamoDB client, warm overhead per request outside DynamoDB. Prints plain-text
tables and writes bench/results.json. It reports misses ("MISS") and never fails on one; it
fails only when a route does not answer 200.
"""
