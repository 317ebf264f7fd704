"""The live churn-risk dashboard: a Streamlit page over the Redis state the streaming job writes.

``data`` reads Redis (pure functions, testable and benchmarked), ``app`` draws the page, ``seed`` writes
fake scored users in the same layout for tests, benchmarks and screenshots.
"""
