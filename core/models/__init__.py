"""Live state kept from traffic: the topic tree and forest, streams and their filters, region statistics, rate meters."""
