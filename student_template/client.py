"""Client for the TCP "Hello World!" lab.  Your name: ______________

Write your code under each step.  Grade it with:   python -m grader client client.py
Run it against your partner's server with:         python client.py
"""
import socket

# Step 1: Create a client socket:  s = socket.socket()


# Step 2: Print "Connecting to server..." to the console.


# Step 3: Connect to the server: its IPv4 address ("localhost" if it runs on this computer,
#         else your partner's IP address) and the port the server listens on.
#         Hint: s.connect((host, port))


# Step 4: Print "Waiting for reply..." to the console.


# Step 5: Receive the message with s.recv(1024). It returns bytes: decode them to text with
#         .decode() and print the text to the console.


# Step 6: Close the socket.
