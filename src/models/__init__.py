"""Model code shared by training and serving: labels, normalisation, language id, classifiers."""
