"""HTTP only: parse the request, call one service method, shape the response."""
