"""HubSpot CRM: contacts, companies, deals and tickets (see connector.py)."""
