"""stand"""
