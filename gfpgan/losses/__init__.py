"""(filled by the losses work)"""
