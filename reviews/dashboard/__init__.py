"""The lead's agreement dashboard: cached figures (`snapshot`), recommendations, policy
acceptance and what-if costs (`policy`), and hard disagreements with error tags
(`disagreements`). Views call these; the figures themselves come from reviews.agreement."""
