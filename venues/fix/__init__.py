"""FIX 4.4 venues: the OMS logs on to a venue's FIX acceptor as an initiator.

``connector.FixVenueConnector`` is a VenuePort (orders out, execution reports in) for the
scenario's ``protocol = "fix"`` venues; ``composite.CompositeVenues`` (in ``venues``)
puts it beside the NATS connector. ``messages`` maps children to FIX and FIX back to
venue reports and order statuses (no I/O).
"""
