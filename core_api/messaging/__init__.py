"""Channel messages: the delivery record of every outbound message and its provider statuses."""
