"""The v2 engine: candidate generators, features from the live history and a learned LambdaMART ranker."""
