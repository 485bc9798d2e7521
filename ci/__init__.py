"""CI tooling: Cloud Build configs, the routing table and helpers for the noxfile."""
