"""Networks: representation, dynamics and prediction, and the value/reward support."""
