"""Request and response bodies. No table class is ever returned directly."""
