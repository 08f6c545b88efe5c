"""The opcloud policy pack: compliance rules run offline (`opcloud stack check`) and inside Pulumi."""
