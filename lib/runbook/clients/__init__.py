"""Clients of the outside services, one per service: each speaks its protocol and returns data,
never findings or displays."""
