//! Everything that talks to a Tyk Dashboard: wire types, the client, and the simulator.
//! No other module may speak HTTP to a Dashboard.
