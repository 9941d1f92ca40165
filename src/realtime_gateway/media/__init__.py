"""Audio shared by the client and the stub: samples, paced tracks, resampling, ICE set-up."""
