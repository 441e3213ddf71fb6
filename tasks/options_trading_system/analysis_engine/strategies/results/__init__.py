"""What a run achieved: outcome metrics over the ledger's rows and the profile's targets checked against them."""
