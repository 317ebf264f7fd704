"""Training service: point-in-time training sets with Spark, models, evaluation, SHAP, versioned artifact."""
