"""The drill: a simulated Dealix and fakes of its outside services, on loopback, with one
injected fault, so every notebook can be rehearsed and tested offline."""
