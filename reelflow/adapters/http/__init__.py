"""HTTP from the origin: a guarded client (transport) and the fetch into a spool file."""
