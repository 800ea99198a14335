"""Firms: sites, fleets and balance sheets (book), decision rules, and the phases that use them."""
