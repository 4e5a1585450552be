"""Moved to coursehub.student.singleuser; this name stays for servers, images and rendered
Kubernetes values made by earlier releases (`python -m coursehub.singleuser`)."""

from coursehub.student.singleuser import main

if __name__ == "__main__":
    main()
