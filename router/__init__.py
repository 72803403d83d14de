"""Smart order router: pure routing strategies and the circuit breaker."""
