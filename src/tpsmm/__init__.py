"""tpsmm."""
