"""(filled by the metrics work)"""
