"""Offline training and evaluation of the event classifier (no Kafka)."""
