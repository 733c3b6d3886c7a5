"""Server for the TCP "Hello World!" lab.  Your name: ______________

Write your code under each step.  Grade it with:   python -m grader server server.py
Run it for your partner with:                      python server.py
"""
import socket

# Step 1: Create a server socket and bind it to an unreserved port (any port from 1024 to
#         65535, e.g. 12345). Bind to the host "" to accept connections on every network.
#         Hint: s = socket.socket()   then   s.bind(("", port))


# Step 2: Prepare the server socket to listen for connection requests: s.listen(...)


# Step 3: Print "Waiting for connection..." to the console.


# Step 4: Accept an incoming connection request. accept() waits for a client and returns a
#         new, connected socket and the address of the client:  conn, address = s.accept()


# Step 5: Print "Connection request accepted!" to the console.


# Step 6: Send the message "Hello World!" on the connected socket. Sockets send bytes, not
#         text: b"Hello World!" or "Hello World!".encode()


# Step 7: Print "Message sent!" to the console.


# Step 8: Close the connected socket (and the server socket).
