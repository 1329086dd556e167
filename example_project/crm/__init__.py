"""A tiny CRM fed by Kakiyo webhooks: what a user's own app looks like."""
