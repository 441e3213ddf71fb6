"""Barchart source: the NQ options chain from Barchart's options page and the JSON API it calls."""
