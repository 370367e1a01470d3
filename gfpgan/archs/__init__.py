"""(filled by the archs work)"""
