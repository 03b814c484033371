"""Federation models: ECS registrations at the ECS-ER and what members learn from it."""
