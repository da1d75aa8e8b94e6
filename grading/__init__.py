"""Instructor-side tools for the CIFAR-10 course: release, demo round, feedback without hidden tests.

Students never receive this package (it is not inside ``source/cifar10/``); nbgrader_config.py
and the tests import it.
"""
