"""The venue simulator: order books, matching and synthetic liquidity."""
