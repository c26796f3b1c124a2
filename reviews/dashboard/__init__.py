"""The lead's agreement dashboard: the cache of agreement figures (`snapshot`, which the
API reads too), recommendations, policy acceptance and what-if costs (`policy`), and hard
disagreements with error tags (`disagreements`). Views call these; the figures
themselves come from reviews.agreement."""
