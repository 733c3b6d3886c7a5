"""Client for the TCP Echo lab: it sends a line and prints the reply.  Your name: ______________

Write your code under each step.  Grade it with:   python -m grader client client.py --exercise echo
Run it against your partner's server with:         python client.py
"""
import socket

# Step 1: Create a client socket:  s = socket.socket()


# Step 2: Print "Connecting to server..." to the console.


# Step 3: Connect to the server: its IPv4 address ("localhost" if it runs on this computer,
#         else your partner's IP address) and the port the server listens on.
#         Hint: s.connect((host, port))


# Step 4: Send a line of your choice, ended by a newline. Sockets send bytes, not text:
#         s.sendall("Hello, echo!\n".encode())


# Step 5: Print "Waiting for reply..." to the console.


# Step 6: Receive the reply with s.recv(1024). It returns bytes: decode them to text with
#         .decode() and print the text to the console (print what you received, not the line
#         you sent: the two are only the same when the server works).


# Step 7: Close the socket.
