"""migrate/buckets"""
