"""LTI 1.3: coursehub as a tool in Moodle, Canvas and other platforms."""
