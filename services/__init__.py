"""Use-cases, framework-free: they import models and routing, never aiogram."""
