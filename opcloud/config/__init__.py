"""opcloud/config"""
