"""The drill's fakes: a simulated Dealix and servers that answer like the real outside services,
each on loopback."""
