"""Where market events and prices come from: replay and live feeds, recordings, the price path,
clocks, cycle timers and the exchange calendar."""
