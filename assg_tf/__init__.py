"""assg_tf."""
