"""Market drivers: price, fees, power, ASIC frontier, AI demand and lease clearing; `engine` wires them."""
